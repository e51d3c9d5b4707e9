"""KFP v2 components of the model lifecycle (register, compare, promote, deploy)."""
