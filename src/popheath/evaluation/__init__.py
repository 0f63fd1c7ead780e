"""Did the lists help: calibration of past lists, contacted vs matched people, and who can be helped."""
