"""The `drlkit` command line (click): thin wrappers over the library; long jobs show progress bars.

One group; its commands live by concern:

- `core`: models, info, verify (the registry), train, encode.
- `evaluate`: eval (the protocol on a labelled dataset), probe (saved features), compare (tables).
- `finetune`: finetune (a DRLClassifier from few labels), predict (its classes for files).
- `pictures`: reconstruct, latent-grid, information, level-of-detail (what a code keeps).

`common` holds the group and the helpers they share: `parse_ts`, `parse_list`, `load_named`,
`json_default`, `write_text`. Importing this package registers every command on `cli`.
"""

from drlkit.cli import core, evaluate, finetune, pictures  # noqa: F401 - the commands register on import
from drlkit.cli.common import cli, main

__all__ = ["cli", "main"]
