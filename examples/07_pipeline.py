"""All steps at once: a recipe is data, and run_recipe executes it (what `lstm-deploy run` does).

Runs ``recipes/quickstart.yaml`` with ``small=True`` (a smoke-sized run, about 2 minutes);
``lstm-deploy run recipes/quickstart.yaml`` is the full one. Independent of steps 01 .. 06.

    python examples/07_pipeline.py
"""

from _common import OUT, ROOT, quiet

if __name__ == "__main__":
    quiet()
    from lstm_deploy.pipeline.recipe import load_recipe
    from lstm_deploy.pipeline.runner import run_recipe

    recipes = ROOT / "recipes"
    result = run_recipe(load_recipe(recipes / "quickstart.yaml"), OUT / "quickstart", recipe_dir=recipes, small=True, progress=print)
    print(f"report: {result.report_html}")
