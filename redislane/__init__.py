"""The call-path Redis round trip shared by the store modules (a leaf: imports no package of ours)."""
