"""Family name -> Family class: the one place that lists families.

A family out of this tree (a research fork, the tests' toy family) is added without editing this file by the
environment variable FACEJAX_FAMILIES="name=package.module:Class[,name2=...]", which every facejax process
(and every subprocess it starts) reads.
"""

import importlib
import os

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
ENV = "FACEJAX_FAMILIES"


def entries() -> dict:
    """{name: "module:Class"}: the built-in families and those of FACEJAX_FAMILIES."""
    out = dict(FAMILIES)
    for item in filter(None, (s.strip() for s in os.environ.get(ENV, "").split(","))):
        name, sep, target = item.partition("=")
        if not sep or ":" not in target or not name.strip():
            raise FacejaxError(f"{ENV}: entry {item!r}: expected name=package.module:Class")
        out[name.strip()] = target.strip()
    return out


def names() -> list[str]:
    return sorted(entries())


def family_class(name: str):
    from facejax.families.base import Family

    known = entries()
    if name not in known:
        raise FacejaxError(f"unknown family {name!r} (config.family); known: {', '.join(sorted(known))}")
    module, attr = known[name].split(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise FacejaxError(f"family {name!r}: cannot load {known[name]} ({e})") from None
    if not (isinstance(cls, type) and issubclass(cls, Family)):
        raise FacejaxError(f"family {name!r}: {known[name]} is not a facejax.families.base.Family subclass")
    return cls


def create(config):
    """The family object for a config: the trainer's fields checked (facejax/train/config.py check), then the
    family's own by its constructor. Applies ``config.kernels`` first (facejax/nn/kernels.py), so the networks it
    builds trace with that choice."""
    from facejax.families import base
    from facejax.nn import kernels
    from facejax.train import config as trainer_config

    cls = family_class(config.family)
    trainer_config.check(config)
    kernels.configure(config)
    family = cls(config)
    k = config.get("grad_accum", 1)
    if k > 1:  # a step that ignored it would train on k * batch_size examples as one batch: refuse
        base.require(family, base.AccumulatesGradients, hint=f"set --config.grad_accum=1 (it is {k})")
    return family
