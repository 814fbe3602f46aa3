"""Files starting with an underscore are not plugins."""

raise AssertionError("plugin folders must skip files starting with '_'")
