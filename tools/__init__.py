"""Build macros, developer scripts and the local services; nothing the product needs at run time.

May import anything third-party; nothing outside tools/ and tests/ imports it.
"""
