"""Clinical code lists and scores (ACSC, falls, HFRS, Charlson, Elixhauser), each cited to its source."""
