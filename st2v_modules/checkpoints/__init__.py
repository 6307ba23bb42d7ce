"""Weight files as users download them: reading without running code, each published layout, conversion."""
