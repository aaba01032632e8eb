"""Distribution families (one module each), the base class and the KL registry."""
