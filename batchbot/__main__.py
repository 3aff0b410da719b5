from batchbot.cli import cli

cli(prog_name="batchbot")
