"""What the tests share: the host booted in-process or as a server, tiny models, fixtures, graphs and workflow cases."""
