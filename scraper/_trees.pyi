import numpy as np

class Forest:
    trees: int
    features: int
    sigmoid: float
    plain: bool
    def __init__(
        self,
        features: int,
        sigmoid: float,
        roots: np.ndarray,
        feature: np.ndarray,
        threshold: np.ndarray,
        categories: np.ndarray,
        children: np.ndarray,
        flags: np.ndarray,
        categorical: np.ndarray,
    ) -> None: ...
    def predict(self, x: np.ndarray, out: np.ndarray) -> None: ...
