"""Step functions of the breast-cancer example pipeline."""
