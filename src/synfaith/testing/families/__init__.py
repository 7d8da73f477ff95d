"""Tiny-twin recipes of the model families beyond the paper's three: one module per family,
each defining ``RECIPE`` (a :class:`~synfaith.testing.twin_recipe.TwinRecipe`) and registered
in :data:`synfaith.testing.twins.TWIN_RECIPES`."""
