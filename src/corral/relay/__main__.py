from corral.relay.main import main

main()
