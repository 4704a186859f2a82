"""Tables, models, metrics and figures: the machine learning the steps do (pandas,
scikit-learn, matplotlib), and the report's pages."""
