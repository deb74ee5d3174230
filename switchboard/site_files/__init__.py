"""The files `switchboard init DIR` lays out for a new site (data only; read with importlib.resources).

Each entry here is a relative symlink to where the file is kept in the repository: settings.example.yaml,
dialplans/, first-flow/ (examples/first-flow), asterisk-conf/ and systemd/ (packaging/systemd). A wheel stores the
files themselves.
"""
