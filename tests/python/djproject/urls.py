from django.urls import path

from . import views

urlpatterns = [
    path("set", views.set_value),
    path("get", views.get_values),
    path("login", views.do_login),
    path("logout", views.do_logout),
    path("whoami", views.whoami),
    path("sessions", views.my_sessions),
    path("revoke-others", views.revoke_others),
]
