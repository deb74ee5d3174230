"""The IVR node kinds: one module per kind (its typed fields, schema, targets, runner and docs).

`registry.KINDS` lists them; see `registry` for how to add one. This package file imports nothing so that the
model (`flow_model`) and the loader can import the kind-definition shape without loading every kind.
"""
