"""The configuration's schema: typed, ranged options for every config group (:mod:`lnra.schema.groups`),
registered in Hydra's ConfigStore so that composing the YAML files checks types, and one validation
pass (:func:`lnra.schema.validate.config_mistakes`) that checks values before anything runs."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from lnra.schema.groups import SCHEMAS, RootSchema


def _options_help() -> str:
    from lnra.schema.docs import plain_text  # here: only --help needs the table

    return plain_text().replace("$", "$$")  # Hydra fills the help template with string.Template: $ is $$


def register_schemas() -> None:
    """Store every schema under its name (e.g. ``schema_dataset``), which the YAML defaults lists name, and
    the ``lnra_options_help`` resolver that ``--help`` (conf/hydra/help/lnra.yaml) prints the options with."""
    if not OmegaConf.has_resolver("lnra_options_help"):
        OmegaConf.register_new_resolver("lnra_options_help", _options_help)
    store = ConfigStore.instance()
    for name, (schema, _) in SCHEMAS.items():
        node = OmegaConf.structured(schema)
        if schema is RootSchema:
            # The root takes the config groups as keys; new groups (added by a YAML) need no schema
            # change, and a top-level typo is reported by the validation pass instead.
            OmegaConf.set_struct(node, False)
        store.store(name=name, node=node)
