"""The ``code`` reward: does the program in the response pass the sample's tests, run in a sandbox."""
