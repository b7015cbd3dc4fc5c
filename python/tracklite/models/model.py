"""The ``MLmodel`` file: a model directory's description, read and written as MLflow does.

An ``MLmodel`` is YAML with sorted keys: ``flavors`` (one block per way to load the model,
``python_function`` among them for generic loading), ``signature`` (JSON strings),
``saved_input_example_info``, ``model_uuid``, ``utc_time_created`` and, for logged models,
``run_id``, ``model_id`` and ``artifact_path``. Keys this version does not know are kept
and written back unchanged.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any

import yaml

from tracklite.errors import ResourceDoesNotExist, TrackliteError
from tracklite.models.signature import ModelSignature

# libyaml's safe loader and dumper when PyYAML has them: loading a model parses its MLmodel,
# and the pure-Python parser takes about 9 ms for one.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

MLMODEL_FILE_NAME = "MLmodel"
PYFUNC_FLAVOR = "python_function"

# Keys the Model holds as attributes; anything else in the file is kept in ``extra``.
_KNOWN = (
    "artifact_path",
    "run_id",
    "utc_time_created",
    "flavors",
    "signature",
    "saved_input_example_info",
    "model_uuid",
    "mlflow_version",
    "metadata",
    "model_size_bytes",
    "model_id",
    "prompts",
    "env_vars",
)


class Model:
    """A model directory's ``MLmodel`` description.

    Args:
        artifact_path: Where a logged model's files live (a full artifact URI in MLflow 3).
        run_id: The run that logged it (None for ``save_model``).
        utc_time_created: Creation time, ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC; default now.
        flavors: ``{flavor name: its settings}``.
        signature: The model's ``ModelSignature``.
        saved_input_example_info: Where the input example is and how it is encoded.
        model_uuid: A unique id; default a fresh uuid4 hex.
        model_id: The logged-model id (``m-<hex>``), None for ``save_model``.
        **extra: Further keys, kept as they are.
    """

    def __init__(
        self,
        artifact_path: str | None = None,
        run_id: str | None = None,
        utc_time_created: str | None = None,
        flavors: dict[str, Any] | None = None,
        signature: ModelSignature | None = None,
        saved_input_example_info: dict[str, Any] | None = None,
        model_uuid: str | None = None,
        mlflow_version: str | None = None,
        metadata: dict[str, Any] | None = None,
        model_size_bytes: int | None = None,
        model_id: str | None = None,
        prompts: list[str] | None = None,
        env_vars: list[str] | None = None,
        **extra: Any,
    ) -> None:
        self.artifact_path = artifact_path
        self.run_id = run_id
        self.utc_time_created = str(utc_time_created or datetime.now(UTC).replace(tzinfo=None))
        self.flavors: dict[str, Any] = flavors if flavors is not None else {}
        self.signature = signature
        self.saved_input_example_info = saved_input_example_info
        self.model_uuid = model_uuid if model_uuid is not None else uuid.uuid4().hex
        self.mlflow_version = mlflow_version
        self.metadata = metadata
        self.model_size_bytes = model_size_bytes
        self.model_id = model_id
        self.prompts = prompts
        self.env_vars = env_vars
        self.extra = extra

    def add_flavor(self, name: str, **params: Any) -> Model:
        """Add (or replace) a flavor block; returns self."""
        self.flavors[name] = params
        return self

    def flavor(self, name: str, path: str) -> dict[str, Any]:
        """The settings of flavor ``name`` of the model in directory ``path``.

        Raises:
            TrackliteError: naming the flavors the model has, if it lacks this one.
        """
        conf = self.flavors.get(name)
        if conf is None:
            raise TrackliteError(f'Model does not have the "{name}" flavor: {path} has {sorted(self.flavors)}.')
        return dict(conf)

    @staticmethod
    def file(path: str, relative: str) -> str:
        """The model file ``relative`` inside model directory ``path``.

        Raises:
            TrackliteError: if it is missing.
        """
        file = os.path.join(path, relative)
        if not os.path.isfile(file):
            raise TrackliteError(f"The model file '{file}' is missing from the model directory.")
        return file

    def get_input_schema(self) -> Any:
        """The signature's input schema, or None."""
        return self.signature.inputs if self.signature is not None else None

    def get_output_schema(self) -> Any:
        """The signature's output schema, or None."""
        return self.signature.outputs if self.signature is not None else None

    def get_params_schema(self) -> Any:
        """The signature's params schema, or None."""
        return self.signature.params if self.signature is not None else None

    def load_input_example(self, path: str) -> Any:
        """The input example saved beside this model in directory ``path`` (None if there is none).

        Raises:
            TrackliteError: if the example file named in the ``MLmodel`` is missing or unreadable.
        """
        from tracklite.models.examples import load_example

        return load_example(path, self.saved_input_example_info, self.get_input_schema())

    def to_dict(self) -> dict[str, Any]:
        """The YAML-ready dict; null run_id/artifact_path and unset optional keys are left out."""
        out: dict[str, Any] = {
            "flavors": self.flavors,
            "model_uuid": self.model_uuid,
            "utc_time_created": self.utc_time_created,
            "model_id": self.model_id,
            "prompts": self.prompts,
        }
        optional = {
            "artifact_path": self.artifact_path,
            "run_id": self.run_id,
            "mlflow_version": self.mlflow_version,
            "saved_input_example_info": self.saved_input_example_info,
            "metadata": self.metadata,
            "model_size_bytes": self.model_size_bytes,
            "env_vars": self.env_vars,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        if self.signature is not None:
            out["signature"] = self.signature.to_dict()
            out["is_signature_from_type_hint"] = False
            out["type_hint_from_example"] = False
        out.update(self.extra)
        return out

    def to_yaml(self) -> str:
        """The ``MLmodel`` text (keys sorted, block style, as MLflow writes it)."""
        return str(yaml.dump(self.to_dict(), Dumper=_Dumper, default_flow_style=False))

    def save(self, path: str) -> None:
        """Write the ``MLmodel`` file at ``path``."""
        with open(path, "w", encoding="utf-8") as out:
            out.write(self.to_yaml())

    @classmethod
    def from_dict(cls, model_dict: dict[str, Any]) -> Model:
        """A Model from the parsed YAML.

        Raises:
            TrackliteError: for a file that is not a mapping, flavors that are not a
                mapping, or a signature that does not parse.
        """
        if not isinstance(model_dict, dict):
            raise TrackliteError(
                f"An MLmodel file must hold a YAML mapping (flavors, signature, ...), got {type(model_dict).__name__}"
            )
        data = dict(model_dict)
        flavors = data.get("flavors", {})
        if flavors is None:
            flavors = {}
        if not isinstance(flavors, dict) or not all(isinstance(v, dict) for v in flavors.values()):
            raise TrackliteError("The MLmodel 'flavors' key must map each flavor name to its settings.")
        data["flavors"] = flavors
        signature = data.pop("signature", None)
        data.pop("is_signature_from_type_hint", None)
        data.pop("type_hint_from_example", None)
        if signature is not None:
            data["signature"] = ModelSignature.from_dict(signature)
        known = {k: data.pop(k) for k in _KNOWN if k in data}
        return cls(**known, **data)

    @classmethod
    def load(cls, path: str) -> Model:
        """Read the ``MLmodel`` of a model directory (or the file itself).

        Raises:
            ResourceDoesNotExist: if there is no ``MLmodel`` file there.
            TrackliteError: for a file that is not valid YAML or not a model description.
        """
        path = str(path).removeprefix("file://")
        file = (
            path
            if os.path.basename(path.rstrip(os.sep)) == MLMODEL_FILE_NAME
            else os.path.join(path, MLMODEL_FILE_NAME)
        )
        if not os.path.isfile(file):
            raise ResourceDoesNotExist(f'Could not find an "{MLMODEL_FILE_NAME}" configuration file at "{path}"')
        try:
            with open(file, encoding="utf-8") as fh:
                parsed = yaml.load(fh, Loader=_Loader)
        except yaml.YAMLError as exc:
            raise TrackliteError(f"The MLmodel file at '{file}' is not valid YAML: {exc}") from None
        if parsed is None:
            raise TrackliteError(
                f"The MLmodel file at '{file}' is empty; a model directory needs its flavors listed there."
            )
        return cls.from_dict(parsed)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.model_uuid)

    def __repr__(self) -> str:
        return f"Model(flavors={sorted(self.flavors)}, model_uuid={self.model_uuid!r})"
