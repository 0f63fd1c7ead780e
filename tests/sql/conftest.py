# The known-answer tests share the tiny-ICS builder beside this file.
