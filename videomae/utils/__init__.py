"""What every part of the package may use: the user-facing errors, atomic files, pixels."""
