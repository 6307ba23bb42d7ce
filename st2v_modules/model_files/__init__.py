"""The model files the pack uses: the catalog of what, where and how big, and the downloader."""
