from bhsvc.cli import main

main()
