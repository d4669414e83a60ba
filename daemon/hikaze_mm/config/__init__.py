"""Configuration: the settings (TOML file, flags, environment), ComfyUI's extra_model_paths.yaml, the model
folders ("roots") they name, and the origins the daemon trusts.

The bottom layer: imports nothing else of hikaze_mm, and nothing below the app reads a configuration file.
"""
