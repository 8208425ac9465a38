"""seoulfall in a real notebook (a Jupyter kernel, run headlessly with nbclient)."""

import nbformat
import pytest
from nbclient import NotebookClient

CELLS = [
    "import matplotlib.pyplot as plt\nimport seoulfall\n"
    "res = seoulfall.simulate('lattice', days=0.05)",
    "res",  # its HTML view
    "res.plot()",  # seoulfall's figure, shown
    "plt.plot([1, 2, 3]); plt.title('mine')",  # the user's own figure afterwards
    "res.save('run')",  # saving (plots, animation) must not take the notebook's figures away
    "plt.plot([3, 2, 1]); plt.title('mine again')",
    "ens = seoulfall.ensemble('well-mixed', seeds=3, days=0.02)\nens",
    "ens.plot()",
]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    folder = tmp_path_factory.mktemp("nb")
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {
        "path": str(folder)}}).execute()  # fmt: skip
    return [cell.outputs for cell in nb.cells]


def kinds(outs):
    return {k for o in outs for k in o.get("data", {})}


def test_results_and_ensembles_show_themselves_in_html(outputs):
    assert "text/html" in kinds(outputs[1])
    html = outputs[1][0]["data"]["text/html"]
    assert "seoulfall.Results" in html and "peak zombies" in html
    assert "text/html" in kinds(outputs[6]) and "P(falls)" in outputs[6][0]["data"]["text/html"]


def test_every_figure_is_shown_seoulfalls_and_the_users_before_and_after_a_save(outputs):
    for i in (2, 3, 5, 7):
        assert "image/png" in kinds(outputs[i]), (i, CELLS[i], outputs[i])
