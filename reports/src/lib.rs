//! HTML reports for faultline runs. Not built yet: see the reports issue.
