def test_imports():
    import pandas
    import torch
    assert pandas.__version__ and torch.__version__
