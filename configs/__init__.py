"""facejax's presets: one config file per family (get_config(preset), PRESETS), installed as `facejax.presets` so
that `--config=FAMILY:PRESET` works from any directory and after `pip install .` (facejax/configs.py finds them).
Config files are read by path (ml_collections' config flag, facejax.configs.load), not imported from here."""
