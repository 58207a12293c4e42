from django.urls import path

from . import views

urlpatterns = [
    path("whoami", views.whoami),
    path("get", views.get_value),
    path("set", views.set_value),
    path("slow-set", views.slow_set),
    path("login", views.log_in),
    path("logout", views.log_out),
    path("expiry", views.expiry),
    path("lifetime", views.lifetime),
    path("sessions", views.my_sessions),
    path("revoke-others", views.revoke_others),
]
