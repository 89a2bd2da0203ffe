"""All steps at once: a recipe is data, and run_recipe executes it (what `lstm-deploy run` does).

Runs ``recipes/quickstart.yaml`` with ``small=True`` (a smoke-sized run, about 2 minutes on 2
busy cores); ``lstm-deploy run recipes/quickstart.yaml`` is the full one. Independent of steps
01 .. 06. With ``LSTM_DEPLOY_EXAMPLES_SMALL=1`` (the examples' test) it skips prune and QAT and
times only ONNX Runtime: the full recipe has its own test.

    python examples/07_pipeline.py
"""

from _common import OUT, ROOT, SMALL, quiet

if __name__ == "__main__":
    quiet()
    from lstm_deploy.pipeline.recipe import load_recipe
    from lstm_deploy.pipeline.runner import run_recipe

    recipes = ROOT / "recipes"
    recipe = load_recipe(recipes / "quickstart.yaml")
    if SMALL:
        stages = [s.replace(runtimes=("onnxruntime",)) if s.stage == "benchmark" else s
                  for s in recipe.stages if s.stage not in ("prune", "quantize")]
        recipe = recipe.model_copy(update={"stages": stages})
    result = run_recipe(recipe, OUT / "quickstart", recipe_dir=recipes, small=True, progress=print)
    print(f"report: {result.report_html}")
