"""All steps at once: a recipe is data, and run_recipe executes it (what `lstm-deploy run` does).

    python examples/07_pipeline.py
"""

from lstm_deploy.pipeline.runner import run_recipe
from lstm_deploy.pipeline.recipe import load_recipe

if __name__ == "__main__":
    result = run_recipe(load_recipe("recipes/quickstart.yaml"), "example_out/quickstart", recipe_dir="recipes", small=True, progress=print)
    print(f"report: {result.report_html}")
