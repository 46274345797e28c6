"""Projects: a project and its first prompt version are created together or not at all."""

import pytest

from vt_core.designer.projects import ProjectError, create_project, current_version, list_projects

pytestmark = pytest.mark.both_backends  # each test that has a store runs on DuckDB and on PostgreSQL


@pytest.mark.parametrize("prompt", ["", "   \n"])
def test_a_blank_first_prompt_creates_nothing(store, prompt):
    with pytest.raises(ProjectError, match="cannot be empty"):
        create_project(store, "Movie bot", goal="recommend films", audience="fans", prompt=prompt)
    assert list_projects(store) == []
    project = create_project(store, "Movie bot", goal="recommend films", audience="fans", prompt="Be kind.")
    assert current_version(store, project.id).text == "Be kind."


def test_a_taken_name_is_refused_and_leaves_the_first_project_alone(store):
    first = create_project(store, "Movie bot", goal="g", audience="a", prompt="one")
    with pytest.raises(ProjectError, match="already exists"):
        create_project(store, " Movie bot ", goal="g", audience="a", prompt="two")
    assert [p.id for p in list_projects(store)] == [first.id]
    assert current_version(store, first.id).text == "one"
