"""Volunteer service (志愿服务) and gratitude (励志感恩): activities, volunteer teams, hours logs
that a second person verifies, gratitude participation and students' thank-you letters.

Points are credited only through :mod:`app.points.operations`, by the rule in force on the
activity's date.
"""
