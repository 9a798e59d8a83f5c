"""The fraud example's fixed vocabularies: merchant categories (with MCC codes), countries and channels."""

# name -> (ISO 18245 merchant category code, log-normal mu of amount, sigma, share of legitimate spend)
MERCHANT_CATEGORIES: dict[str, tuple[str, float, float, float]] = {
    "grocery": ("5411", 3.3, 0.6, 0.26),
    "restaurant": ("5812", 3.2, 0.5, 0.18),
    "fuel": ("5541", 3.8, 0.35, 0.10),
    "fashion": ("5651", 4.1, 0.7, 0.09),
    "electronics": ("5732", 5.2, 0.9, 0.05),
    "travel": ("4511", 5.8, 0.8, 0.04),
    "digital_goods": ("5815", 2.5, 0.8, 0.12),
    "pharmacy": ("5912", 3.0, 0.6, 0.07),
    "cash_withdrawal": ("6011", 4.3, 0.6, 0.06),
    "gambling": ("7995", 3.9, 1.0, 0.03),
}
CATEGORIES: tuple[str, ...] = tuple(MERCHANT_CATEGORIES)

# Countries cards are issued in (home) and merchants sit in; the last ones are mostly seen in fraud.
COUNTRIES: tuple[str, ...] = ("DE", "FR", "GB", "NL", "ES", "IT", "PL", "SE", "US", "CA", "BR", "IN", "NG", "RU")
HOME_COUNTRIES: tuple[str, ...] = COUNTRIES[:10]

CHANNELS: tuple[str, ...] = ("pos", "contactless", "ecom")
