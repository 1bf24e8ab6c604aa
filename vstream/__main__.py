from vstream.cli.main import run

run()
