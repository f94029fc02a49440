"""Components of the image classifier's serving stacks (serverless and always-on)."""
