"""Code shared by the components: packaging settings and helpers embedded into component pods."""
