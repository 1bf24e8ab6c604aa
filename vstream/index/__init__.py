"""The index: what every scene shows and says, stored in LanceDB."""
