"""The notebooks run top to bottom (nbclient) on the sample data and the shipped default model."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from influence.settings import default_model_path, project_root, sample_data_dir

NOTEBOOKS = project_root() / "notebooks"


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = sample_data_dir()
    if any(folder.glob("accounts.*")):
        return folder
    # Same settings as the committed sample (`make data`), for a checkout where it was not generated yet.
    from influence.generate import write_generated

    out = tmp_path_factory.mktemp("sample")
    write_generated(out, 200, 7)
    return out


def _run(name: str, env: dict[str, str]) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(
            notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
        ).execute()
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return notebook


def _outputs(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
    )


def test_explore_notebook_runs(sample_dir: Path) -> None:
    notebook = _run(
        "01-explore-deal-history.ipynb", {"INFLUENCE_NOTEBOOK_DATA": str(sample_dir), "OMP_NUM_THREADS": "1"}
    )
    assert "hidden influencers:" in _outputs(notebook)


def test_evaluate_notebook_runs(sample_dir: Path) -> None:
    if not any(default_model_path().glob("*/metadata.json")):
        pytest.skip(f"no shipped default model in {default_model_path()} (run `make train`)")
    notebook = _run(
        "02-evaluate-model.ipynb", {"INFLUENCE_NOTEBOOK_DATA": str(sample_dir), "OMP_NUM_THREADS": "1"}
    )
    assert "influence ROC-AUC" in _outputs(notebook)
