"""The hand-offs' shared world: a task on disk and finished runs of the real optimizer, built
once per test module from the module's ``WORLD`` recipe (see :mod:`tests.handoff.worlds`)."""

from __future__ import annotations

import pytest

from tests.handoff.worlds import Recipe, World, build_world


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> World:
    recipe: Recipe = request.module.WORLD
    return build_world(tmp_path_factory.mktemp(recipe.name), recipe)
