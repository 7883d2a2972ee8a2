from drlkit.cli import main

main()
