"""What runs in a rule job: the entry point a rule script calls, the warm workers that
run steps, and the steps themselves."""
