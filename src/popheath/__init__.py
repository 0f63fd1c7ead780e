"""popheath: population-health pipeline for English integrated care systems."""
