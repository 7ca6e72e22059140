"""The run header says what a run trained on, by source, and which model played which role."""

from cai_desktop.ui.widgets.run_detail import _provenance


def test_header_names_data_sources_and_roles():
    run = {"lineage": {"data": {"sources": {"human": 1, "ai_revision": 4},
                                "sources_weighted": {"human": 3, "ai_revision": 4}},
                       "roles": {"student": "/models/smol"}},
           "result": {}}
    text = _provenance(run)
    assert "data: 3 human, 4 AI revisions" in text and "roles: student smol" in text
    label = {"lineage": {}, "result": {"roles": {"feedback": {"spec": None}}}}
    assert "feedback embedded default" in _provenance(label)
    assert _provenance({"lineage": {}, "result": {}}) == ""
