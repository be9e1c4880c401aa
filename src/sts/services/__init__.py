"""Services: "when X happens, do Y". Each takes ports as arguments; none names a concrete adapter."""
