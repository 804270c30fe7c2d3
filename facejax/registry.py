"""Family name -> Family class: the one place that lists families."""

import importlib

from facejax.errors import FacejaxError

FAMILIES = {
    "stargan_v2": "facejax.families.stargan_v2.family:StarGANv2",
    "beautygan": "facejax.families.beautygan.family:BeautyGAN",
    "ipmnet": "facejax.families.ipmnet.family:IPMNet",
    "aesgan": "facejax.families.aesgan.family:AesGAN",
    "aesgan_aesthetic": "facejax.families.aesgan.aesthetic:AestheticNet",
    "aesgan_parsing": "facejax.families.aesgan.parsing:ParsingNetFamily",
    "gfc": "facejax.families.gfc.family:GFC",
    "gfc_parsing": "facejax.families.gfc.parsing_family:GFCParsing",
    "beholder": "facejax.families.beholder.family:Beholder",
    "beholder_predictor": "facejax.families.beholder.predictor_family:BeholderPredictor",
}


def family_class(name: str):
    if name not in FAMILIES:
        raise FacejaxError(f"unknown family {name!r} (config.family); known: {', '.join(sorted(FAMILIES))}")
    module, attr = FAMILIES[name].split(":")
    return getattr(importlib.import_module(module), attr)


def create(config):
    """The family object for a config; its constructor validates the config's values. Applies
    ``config.kernels`` first (facejax/nn/kernels.py), so the networks it builds trace with that choice."""
    from facejax.nn import kernels

    kernels.configure(config)
    return family_class(config.family)(config)
