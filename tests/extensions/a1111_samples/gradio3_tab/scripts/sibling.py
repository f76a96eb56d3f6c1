VALUE = "a sibling in scripts/"
